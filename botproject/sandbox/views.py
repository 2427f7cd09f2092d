"""The page at /sandbox/: act as any member of the demo server."""

from django.conf import settings
from django.http import Http404, HttpResponse


async def page(request):
    if not settings.SANDBOX:
        raise Http404
    return HttpResponse("sandbox")
