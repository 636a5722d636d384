"""The console's pages. Each reads the broker (console.broker) and renders a template; nothing here writes."""

import functools
import logging
from urllib.parse import urlencode

from django.conf import settings
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe
from kafka.errors import KafkaError

from common import tracing
from common.events import TOPICS
from console import broker
from console.forms import MessagesQuery, OrderQuery

log = logging.getLogger(__name__)


def _page(request, template: str, context: dict, status: int = 200):
    return render(request, f"console/{template}", {"refresh": settings.CONSOLE_REFRESH_SECONDS, **context},
                  status=status)


def console_page(view):
    """A page of the console: read only, and a broker that does not answer is a 503 page that says so (and keeps
    refreshing), not a 500."""

    @functools.wraps(view)
    @require_safe  # GET and HEAD only: the console changes nothing
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except KafkaError as error:
            log.warning("broker unreachable during %s: %r", request.path, error)
            return _page(request, "unavailable.html", {"error": error}, status=503)

    return wrapper


def _site(service: str) -> str:
    return service.removesuffix("-service")


@console_page
def overview(request):
    """The sites as boxes, each topic as an arrow from its producer to every group that reads it."""
    topics = broker.topics()
    groups = broker.groups()
    sites = {_site(topic.producer): None for topic in TOPICS.values()}
    sites.update({_site(group.group_id): group for group in groups if group.group_id.endswith("-service")})
    by_name = {topic.name: topic for topic in topics}
    arrows = [
        {
            "topic": by_name[name],
            "producer": _site(TOPICS[name].producer),
            "readers": [{"site": _site(g.group_id), "group": g, "lag": g.topic_lag(name)}
                        for g in groups if name in g.topics],
        }
        for name in TOPICS if name in by_name
    ]
    dead_letters = [topic for topic in topics if topic.dead_letter]
    others = [g for g in groups if not g.group_id.endswith("-service")]
    return _page(request, "overview.html", {"sites": sites, "arrows": arrows, "dead_letters": dead_letters,
                                            "other_groups": others, "rate_seconds": broker.RATE_SECONDS})


@console_page
def topic_list(request):
    return _page(request, "topics.html", {"topics": broker.topics(), "rate_seconds": broker.RATE_SECONDS})


@console_page
def topic_messages(request, topic: str):
    if topic not in broker.known_topics():
        raise Http404(f"no topic {topic!r}")
    partitions = broker.partition_count(topic)
    if not partitions:
        raise Http404(f"topic {topic!r} does not exist on the broker yet")
    query = MessagesQuery(request.GET, partitions=partitions)
    context = {"topic": topic, "form": query, "partitions": range(partitions), "window": settings.CONSOLE_WINDOW}
    if not query.is_valid():
        return _page(request, "messages.html", context, status=400)
    wanted = query.cleaned_data
    if wanted["partition"] is None:
        messages = broker.newest_messages(topic, limit=wanted["limit"], order_id=wanted["order_id"])
    else:
        messages = broker.messages_from(topic, partition=wanted["partition"], offset=wanted["offset"],
                                        limit=wanted["limit"], order_id=wanted["order_id"])
    return _page(request, "messages.html", {**context, "messages": messages, "wanted": wanted})


@console_page
def group_list(request):
    return _page(request, "groups.html", {"groups": broker.groups()})


@console_page
def order_follow(request):
    query = OrderQuery(request.GET)
    context = {"form": query, "window": settings.CONSOLE_WINDOW}
    if not query.is_valid():
        return _page(request, "order.html", context, status=400)
    order_id = query.cleaned_data["order_id"]
    if order_id:
        hops = broker.causal_order(broker.order_events(order_id))
        context.update(order_id=order_id, hops=hops, trace_url=_trace_url(order_id, hops))
    return _page(request, "order.html", context)


def _trace_url(order_id: str, hops: list) -> str:
    """The order's trace in Zipkin: the one its first event's traceparent names, else a search by its order_id."""
    for hop in hops:
        trace_id = tracing.trace_id_of(dict(hop.message.headers).get(tracing.TRACEPARENT))
        if trace_id:
            return f"{settings.ZIPKIN_UI_URL}traces/{trace_id}"
    return f"{settings.ZIPKIN_UI_URL}?{urlencode({'annotationQuery': f'order_id={order_id}'})}"


@require_safe
def ready(request):
    """200 when the broker answers, else 503 (manage_all.sh waits for it)."""
    try:
        broker.ready()
    except KafkaError as error:
        return HttpResponse(f"broker unreachable: {error}\n", status=503, content_type="text/plain")
    return HttpResponse("ready\n", content_type="text/plain")
