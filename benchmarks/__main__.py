"""Run the benchmarks: ``python -m benchmarks --help`` lists the options."""

from benchmarks.run import main

raise SystemExit(main())
