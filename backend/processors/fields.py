"""Form fields shared by processor option forms."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext as _
from PIL import Image, UnidentifiedImageError


class ColourField(forms.RegexField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 7)
        kwargs.setdefault("error_messages", {"invalid": "Enter a colour as #rrggbb."})
        super().__init__(regex=r"^#[0-9a-fA-F]{6}$", **kwargs)
        self.widget.input_type = "color"


class ImageFileField(forms.FileField):
    """An auxiliary image (e.g. a logo), checked like any upload: real content, bounded size."""

    max_bytes = 5 * 1024 * 1024
    max_pixels = 4096 * 4096

    def clean(self, data: Any, initial: Any = None) -> UploadedFile | None:
        file = super().clean(data, initial)
        if file is None:
            return None
        if file.size > self.max_bytes:
            limit = self.max_bytes // (1024 * 1024)
            raise forms.ValidationError(_("The image may be at most %(limit)s MB.") % {"limit": limit})
        try:
            file.seek(0)
            # The header only: the web decodes no upload's pixels (the worker does, and says if it cannot).
            with Image.open(file, formats=("PNG", "WEBP", "JPEG", "GIF")) as image:
                if image.width * image.height > self.max_pixels:
                    raise forms.ValidationError(_("The image is too large: at most 4096×4096 pixels."))
        except forms.ValidationError:
            raise
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
            raise forms.ValidationError(_("This is not a PNG, WebP, JPEG or GIF image that can be read.")) from None
        finally:
            file.seek(0)
        return file
