"""What a client can send that would otherwise reach the database or a recursive parser and
end in a 500: NUL characters (PostgreSQL refuses them in text), JSON nested past Python's
recursion limit, paging numbers wider than a database integer. Each becomes a 400 with a
message."""

import orjson
from django.http import JsonResponse
from rest_framework import parsers
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.pagination import LimitOffsetPagination

MAX_PAGE_SIZE = 1000
MAX_OFFSET = 2**31 - 1


class RefuseNulMiddleware:
    """A NUL character in the path or the query string is a 400 before any view runs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path or any("\x00" in key or any("\x00" in v for v in values)
                                         for key, values in request.GET.lists()):
            return JsonResponse({"detail": "NUL characters are not allowed in URLs"}, status=400)
        return self.get_response(request)


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser on orjson: nesting beyond 1024 levels is invalid JSON (a 400), not
    a RecursionError (a 500). NaN and Infinity are refused, as DRF's strict mode does."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return orjson.loads(stream.read())
        except orjson.JSONDecodeError as error:
            raise ParseError(f"JSON parse error - {error}") from None


class LimitOffsetPagination(LimitOffsetPagination):
    """``?limit=`` is capped at MAX_PAGE_SIZE; an ``?offset=`` no database integer holds is a 400."""

    max_limit = MAX_PAGE_SIZE

    def get_offset(self, request):
        offset = super().get_offset(request)
        if offset > MAX_OFFSET:
            raise ValidationError({"offset": [f"Ensure this value is at most {MAX_OFFSET}."]})
        return offset
