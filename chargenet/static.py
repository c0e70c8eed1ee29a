"""Static files served by daphne itself, through WhiteNoise."""

import os

from whitenoise.middleware import WhiteNoiseMiddleware


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise, quiet about a STATIC_ROOT that ``collectstatic`` has not filled yet (the
    app folders are served through the finders then, see WHITENOISE_USE_FINDERS)."""

    def add_files(self, root, prefix=None):
        if os.path.isdir(root):
            super().add_files(root, prefix)
