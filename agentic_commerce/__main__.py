import sys

from agentic_commerce.cli import main

sys.exit(main())
