"""schemathesis's command line (`st`), with `ast.parse` taken by one thread at a time.

CPython 3.11's AST construction keeps its recursion depth in state that two threads parsing at once can
corrupt: one of them then fails with "SystemError: AST constructor recursion depth mismatch" (reported in
threaded programs as python/cpython#106905). schemathesis's workers are threads, and hypothesis parses the
source of each filter lambda it describes, so a run with `--workers 2` crashed in its coverage phase now and
then, in the tool and not in any answer of ours. Serialising the parse keeps the two workers and their
speed; nothing else of the run is changed."""

from __future__ import annotations

import ast
import sys
import threading
from typing import Any

from schemathesis.cli import schemathesis

_parse = ast.parse
_one_at_a_time = threading.Lock()


def _serialised_parse(*args: Any, **kwargs: Any) -> Any:
    with _one_at_a_time:
        return _parse(*args, **kwargs)


if __name__ == "__main__":
    ast.parse = _serialised_parse
    sys.exit(schemathesis())
