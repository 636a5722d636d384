"""Lists that read one page, in the one query shape both stores serve from an index.

A list is top-level equality on scalar fields, a sort on one field, skip and limit. MongoDB serves it from an
index whose fields are the filter's, then the sort field (each store module creates those for its lists);
FerretDB on SQLite serves the same shape from the same index once the project's pushdown patches
(infra/ferretdb/) hand it to SQLite, and nothing else (no `$or`, ranges, regexes, or a sort on two fields).
A page reads one document more than it shows, to know whether another follows, and nothing counts the matches:
a count reads every one of them.
"""

from pymongo import ASCENDING, DESCENDING
from pymongo.collection import Collection

NEWEST_FIRST = ("created_at", DESCENDING)


def read_page(collection: Collection, where: dict, *, skip: int, limit: int, sort: tuple[str, int] = NEWEST_FIRST,
              projection: dict | None = None) -> tuple[list[dict], bool]:
    """The documents on one page, and whether another page follows. `where` is {field: value}; a field whose
    value is None is not filtered on."""
    query = {field: value for field, value in where.items() if value is not None}
    documents = list(collection.find(query, projection, sort=[sort], skip=skip, limit=limit + 1))
    return documents[:limit], len(documents) > limit


def create_indexes(collection: Collection, *filters: tuple[str, ...], sort: tuple[str, int] = NEWEST_FIRST) -> None:
    """An index for each list of a collection: the fields its filter names (in any order a query gives them),
    then the sort field. Idempotent."""
    for fields in filters:
        collection.create_index([*((field, ASCENDING) for field in fields), sort])
