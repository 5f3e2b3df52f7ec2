"""`python -m thimble`: the same as the `thimble` command."""
import sys

from .cli import main

sys.exit(main())
