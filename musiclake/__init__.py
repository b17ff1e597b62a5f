"""musiclake's roof: the CLI and the demo, which import every stage (the ground is ``common``)."""
from common import __version__  # noqa: F401
