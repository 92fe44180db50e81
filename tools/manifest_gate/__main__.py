"""`python -m manifest_gate` (with tools/ on sys.path)."""

from manifest_gate.gate import main

raise SystemExit(main())
