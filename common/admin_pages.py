"""Admin pages over MongoDB documents: the admin's login, look and navigation, without an ORM.

A site registers a `MongoPage` for each collection in its `admin.py`; the pages list the documents
(search, filters, pagination) and show one document, behind the admin's staff login.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse


@dataclass(frozen=True)
class MongoPage:
    app_label: str  # the admin section it appears in, e.g. "orders"
    name: str  # e.g. "Orders"
    collection: Callable  # returns the pymongo collection
    columns: tuple[str, ...]
    search_fields: tuple[str, ...] = ("_id",)  # matched exactly: ids are what people paste
    filters: dict[str, tuple[str, ...]] = field(default_factory=dict)
    hidden_fields: tuple[str, ...] = ()  # left out of the detail page (e.g. a long internal list)
    action: Callable | None = None  # action(request, document) for a POST on the detail page
    action_label: str = ""
    history: Callable | None = None  # history(document): the events to list under the detail page

    @property
    def slug(self) -> str:
        return self.name.lower().replace(" ", "-")


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
        return urls + super().get_urls()

    def get_app_list(self, request, app_label=None):
        app_list = super().get_app_list(request, app_label)
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
            query = {}
            search = request.GET.get("q", "").strip()
            if search:
                query["$or"] = [{name: search} for name in page.search_fields]
            chosen = {name: request.GET[name] for name in page.filters if request.GET.get(name)}
            query.update(chosen)
            documents = page.collection().find(query, sort=[("_id", 1)])
            paginator = Paginator(list(documents), 50)
            current = paginator.get_page(request.GET.get("p"))
            rows = [(document["_id"], [_cell(document.get(column, "")) for column in page.columns])
                    for document in current]
            context = {**self.each_context(request), "title": page.name, "page": page, "rows": rows,
                       "current": current, "search": search, "chosen": chosen, "filters": page.filters.items()}
            return TemplateResponse(request, "admin/mongo_list.html", context)

        return view

    def _detail_view(self, page: MongoPage):
        def view(request, document_id):
            document = page.collection().find_one({"_id": document_id})
            if document is None:
                raise Http404(f"no {page.name.lower()} {document_id}")
            if request.method == "POST" and page.action:
                messages.info(request, page.action(request, document))
                return HttpResponseRedirect(request.path)
            fields = [(name, _cell(value)) for name, value in document.items() if name not in page.hidden_fields]
            context = {**self.each_context(request), "title": f"{page.name}: {document_id}", "page": page,
                       "fields": fields, "history": page.history(document) if page.history else []}
            return TemplateResponse(request, "admin/mongo_detail.html", context)

        return view
