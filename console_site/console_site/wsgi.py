import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[2]))  # the repository root, for the shared `common` app
from common.entrypoints import wsgi  # noqa: E402

application = wsgi("console_site.settings", traced=False)  # a reader of the topics, nobody's order
