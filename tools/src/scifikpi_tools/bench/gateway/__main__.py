"""`python -m scifikpi_tools.bench.gateway` (make bench)."""

import sys

from scifikpi_tools.bench.gateway import main

sys.exit(main())
