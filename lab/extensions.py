"""Flask extensions, created unbound and initialised in the app factory."""
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_mail import Mail
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData

# Stable constraint names keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING))
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
mail = Mail()  # e-mail for password resets only, when MAIL_SERVER is set (lab/auth/reset.py)
babel = Babel()
# Storage and switch from the app config (RATELIMIT_STORAGE_URI, RATELIMIT_ENABLED: lab/config.py);
# the limits themselves are on the views that need them (lab/auth/limits.py).
limiter = Limiter(key_func=get_remote_address)
