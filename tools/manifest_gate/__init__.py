"""The offline manifest gate behind `make manifests` (README.md: the checks and their tools)."""
