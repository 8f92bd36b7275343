"""What the browser tests share: where Chromium is, the screen sizes, the waiting page's address."""

import re

CHROMIUM = "/usr/bin/chromium"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
BATCH_URL = re.compile(r".*/b/[0-9a-f-]{36}/$")
