"""HTTP interface of the notification site (read-only: notifications are made by events)."""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import Page, PageQuery, errors, found_or_404, page_of
from notifications import store
from notifications.serializers import NotificationFilter, NotificationOut


class NotificationList(APIView):
    @extend_schema(operation_id="notifications_list", parameters=[NotificationFilter, PageQuery],
                   responses={200: page_of(NotificationOut), **errors(400, 503)})
    def get(self, request):
        """Mails to customers, newest first; filter by order_id and event_type."""
        page = Page(request)
        query = NotificationFilter(data=request.query_params.dict())  # a blank `?order_id=` is refused, as documented
        query.is_valid(raise_exception=True)
        notifications, has_next = store.notifications_page(
            order_id=query.validated_data.get("order_id"), event_type=query.validated_data.get("event_type"),
            skip=page.skip, limit=page.size)
        return page.response(NotificationOut(notifications, many=True).data, has_next)


class NotificationDetail(APIView):
    @extend_schema(responses={200: NotificationOut, **errors(404, 503)})
    def get(self, request, notification_id: str):
        """One notification: `<order id>.<event type>`."""
        notification = found_or_404(store.notification_get(notification_id), f"notification {notification_id}")
        return Response(NotificationOut(notification).data)
