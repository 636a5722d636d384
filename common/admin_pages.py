"""Admin pages over MongoDB documents: the admin's login, look and navigation, without an ORM.

A site registers a `MongoPage` for each collection in its `admin.py`; the pages list the documents
(search, filters, pagination) and show one document, behind the admin's staff login. A list reads one page
from the store, in the shape common.listing serves from an index: newest first, the filters and the search as
equality on the store's side, no count ("next" and "previous" instead of "page 3 of 20,000").
"""

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from common import dead_letters, fencing, kafka, listing, registry

PAGE_SIZE = 50
LAST_PAGE = 1_000_000  # a deeper page number is read as this one (the store's skip is an int64)


@dataclass(frozen=True)
class Action:
    """A button on a document's page: run(request, document) does it and returns the message to show."""
    label: str
    run: Callable
    number_input: str | None = None  # the name of a number the staff member types in first (e.g. "quantity")


@dataclass(frozen=True)
class View:
    """A named list besides the plain one (e.g. "stuck"): its documents, and the extra columns they carry."""
    documents: Callable  # documents() -> list of documents
    columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class MongoPage:
    app_label: str  # the admin section it appears in, e.g. "orders"
    name: str  # e.g. "Orders"
    collection: Callable  # returns the pymongo collection
    columns: tuple[str, ...]
    # The search box takes what people paste, matched exactly: the value of an id field (each names one
    # document) lands on that document; anything else lists the documents that hold it in a search field (the
    # first such field any document matches), within the chosen filters. The store module indexes each.
    id_fields: tuple[str, ...] = ("_id",)
    search_fields: tuple[str, ...] = ()
    filters: dict[str, tuple[str, ...]] = field(default_factory=dict)  # each combines with the others
    sort: tuple[str, int] = listing.NEWEST_FIRST
    hidden_fields: tuple[str, ...] = ()  # left out of the detail page (e.g. a long internal list)
    actions: tuple[Action, ...] = ()
    views: dict[str, View] = field(default_factory=dict)
    history: Callable | None = None  # history(document): the events to list under the detail page

    @property
    def slug(self) -> str:
        return self.name.lower().replace(" ", "-")

    def document_named(self, search: str) -> dict | None:
        """The document whose id field holds the search, if any."""
        return next(filter(None, (self.collection().find_one({name: search}) for name in self.id_fields)), None)

    def documents(self, *, chosen: dict[str, str], search: str, skip: int) -> tuple[list[dict], bool]:
        """One page of the documents within the chosen filters (that hold the search in the first search field
        where any does), and whether another page follows."""
        wheres = [{**chosen, name: search} for name in self.search_fields] if search else [chosen]
        for where in wheres:
            documents, more = listing.read_page(self.collection(), where, skip=skip, limit=PAGE_SIZE, sort=self.sort)
            if documents:
                return documents, more
        return [], False


def _link(request, **changes) -> str:
    """This list's address with some parameters changed (None: left out), the others kept."""
    query = request.GET.copy()
    for name, value in changes.items():
        query.pop(name, None)
        if value is not None:
            query[name] = value
    return f"?{query.urlencode()}"


def _filter_links(request, page: MongoPage, chosen: dict[str, str]) -> list:
    """Per filter: its name, the link to "all" and whether it is chosen, and (choice, link, chosen) for each
    choice. A link keeps the search and the other filters, and goes back to page 1."""
    return [(name, _link(request, **{name: None, "p": None}), name not in chosen,
             [(choice, _link(request, **{name: choice, "p": None}), chosen.get(name) == choice) for choice in choices])
            for name, choices in page.filters.items()]


def _cell(value) -> str:
    return json.dumps(value, default=str) if isinstance(value, dict | list) else str(value)


class PipelineAdminSite(admin.AdminSite):
    site_header = "Order pipeline admin"
    site_title = "Order pipeline"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.pages: list[MongoPage] = []

    def register_page(self, page: MongoPage) -> None:
        self.pages.append(page)

    def get_urls(self):
        urls = []
        for page in self.pages:
            base = f"{page.app_label}/{page.slug}/"
            urls += [
                path(base, self.admin_view(self._list_view(page)), name=f"{page.app_label}_{page.slug}_list"),
                path(f"{base}<str:document_id>/", self.admin_view(self._detail_view(page)),
                     name=f"{page.app_label}_{page.slug}_detail"),
            ]
        urls.append(path("kafka/dead-letters/", self.admin_view(self.dead_letters_view), name="dead_letters"))
        return urls + super().get_urls()

    def get_app_list(self, request, app_label=None):
        app_list = super().get_app_list(request, app_label)
        if app_label in (None, "kafka"):
            app_list.append({"name": "Kafka", "app_label": "kafka", "app_url": "", "has_module_perms": True,
                             "models": [{"name": "Dead letters", "object_name": "dead-letters", "perms": {"view": True},
                                         "admin_url": reverse("admin:dead_letters", current_app=self.name),
                                         "view_only": True}]})
        for label in dict.fromkeys(page.app_label for page in self.pages):
            if app_label in (None, label):
                app_list.append({
                    "name": f"{label.title()} (MongoDB)",
                    "app_label": label,
                    "app_url": "",
                    "has_module_perms": True,
                    "models": [{"name": page.name, "object_name": page.slug, "perms": {"view": True},
                                "admin_url": reverse(f"admin:{label}_{page.slug}_list", current_app=self.name),
                                "view_only": True} for page in self.pages if page.app_label == label],
                })
        return app_list

    def _list_view(self, page: MongoPage):
        def view(request):
            search = request.GET.get("q", "").strip()
            chosen = {name: request.GET[name] for name, choices in page.filters.items()
                      if request.GET.get(name) in choices}
            number = max(1, min(int(request.GET["p"]), LAST_PAGE)) if request.GET.get("p", "").isdigit() else 1
            skip = (number - 1) * PAGE_SIZE
            view_name = request.GET.get("view")
            view = page.views.get(view_name)
            if view:  # a short list of its own (the stuck orders), not a query on the collection
                listed, columns = view.documents(), page.columns + view.columns
                documents, more = listed[skip:skip + PAGE_SIZE], len(listed) > skip + PAGE_SIZE
            elif search and (named := page.document_named(search)):
                return HttpResponseRedirect(reverse(f"admin:{page.app_label}_{page.slug}_detail",
                                                    args=[named["_id"]], current_app=self.name))
            else:
                documents, more = page.documents(chosen=chosen, search=search, skip=skip)
                columns = page.columns
            rows = [(document["_id"], [_cell(document.get(column, "")) for column in columns])
                    for document in documents]
            context = {**self.each_context(request), "title": f"{page.name}: {view_name}" if view else page.name,
                       "page": page, "rows": rows, "columns": columns, "number": number, "search": search,
                       "chosen": chosen, "filters": _filter_links(request, page, chosen),
                       "view": view_name if view else "",
                       "previous": _link(request, p=number - 1) if number > 1 else None,
                       "next": _link(request, p=number + 1) if more else None}
            return TemplateResponse(request, "admin/mongo_list.html", context)

        return view

    def _detail_view(self, page: MongoPage):
        def view(request, document_id):
            document = page.collection().find_one({"_id": document_id})
            if document is None:
                raise Http404(f"no {page.name.lower()} {document_id}")
            if request.method == "POST":
                action = next((a for a in page.actions if a.label == request.POST.get("action")), None)
                if action is None:
                    messages.error(request, "No such action.")
                else:
                    messages.info(request, action.run(request, document))
                return HttpResponseRedirect(request.path)
            hidden = {*page.hidden_fields, fencing.FIELD}  # the consumers' epochs say nothing about the document
            fields = [(name, _cell(value)) for name, value in document.items() if name not in hidden]
            context = {**self.each_context(request), "title": f"{page.name}: {document_id}", "page": page,
                       "fields": fields, "history": page.history(document) if page.history else []}
            return TemplateResponse(request, "admin/mongo_detail.html", context)

        return view

    def dead_letters_view(self, request):
        """The dead letters of the topics this site consumes, each with why and where it failed; replay one or
        all of a topic's (each replay is recorded in the admin's log)."""
        topics = sorted(registry.site_handlers())
        if request.method == "POST":
            messages.info(request, self._replay(request, topics))
            return HttpResponseRedirect(request.get_full_path())
        chosen = request.GET.get("topic") if request.GET.get("topic") in topics else None
        letters = []
        for letter in dead_letters.dead_letters(chosen) if chosen else []:
            try:
                value = json.dumps(json.loads(letter.value), indent=2)
            except (TypeError, ValueError):
                value = (letter.value or b"").decode(errors="replace")
            letters.append({"letter": letter, "value": value, **{name.removeprefix("dlt."): letter.headers.get(name)
                            for name in ("dlt.reason", "dlt.group", "dlt.failed_at")}})
        context = {**self.each_context(request), "title": f"Dead letters: {chosen}.DLT" if chosen else "Dead letters",
                   "topics": topics, "chosen": chosen, "letters": letters}
        return TemplateResponse(request, "admin/dead_letters.html", context)

    def _replay(self, request, topics: list[str]) -> str:
        topic = request.POST.get("topic")
        if topic not in topics:
            return "Nothing replayed: no such topic here."
        try:
            if request.POST.get("all"):
                replayed = dead_letters.replay(topic)
                what = f"{len(replayed)} dead letter(s) of {topic}.DLT not replayed before"
            else:
                partition, offset = int(request.POST.get("partition", "")), int(request.POST.get("offset", ""))
                if dead_letters.replay_one(topic, partition, offset) is None:
                    return f"Nothing replayed: {topic}.DLT has no dead letter at partition {partition}, offset " \
                           f"{offset} (any more: it may be past the topic's retention)."
                what = f"{topic}.DLT[{partition}]@{offset}"
        except ValueError:
            return "Nothing replayed: the partition and offset must be whole numbers."
        except kafka.TRANSIENT_ERRORS as error:
            return f"Nothing replayed: the broker did not answer ({error}). Try again."
        LogEntry.objects.create(user_id=request.user.pk, object_id=topic, object_repr=f"{what} replayed"[:200],
                                action_flag=CHANGE, change_message=f"Replayed {what} to {topic}")
        return f"Replayed {what} to {topic}."
