"""The web console: static HTML, CSS and JavaScript the broker serves at `/`.

No build step: `static/` holds the files as the browser loads them. The pages draw their
charts themselves on a canvas and read everything from the JSON API (`/api/v1/...`,
`rafka.server.http.api`). The console never writes unless the broker runs with
`console.allow_writes`; the API refuses writes otherwise, whatever the page does.
"""

from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"

__all__ = ["STATIC_DIR"]
