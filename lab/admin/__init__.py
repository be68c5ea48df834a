"""The lab admin's console (/admin): every account of the lab (lock, unlock) and the site's
settings. The pages are in views.py, behind one guard; what they change is in users.py and
lab/models/setting.py."""
from .views import bp

__all__ = ["bp"]
