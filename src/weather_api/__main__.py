"""`python -m weather_api` is the `weather-api` command."""

import sys

from weather_api.cli import main

sys.exit(main())
