import sys

from agentic_commerce.supervisor import main

sys.exit(main())
