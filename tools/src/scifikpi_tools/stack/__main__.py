import sys

from scifikpi_tools.stack.cli import main

sys.exit(main())
