"""Entry point: ``python -m simulator --port 8787 --time-scale 0.01 --seed 7``."""

from simulator.cli import main

raise SystemExit(main())
