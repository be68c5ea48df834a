"""Entry point. `python run.py` migrates the database, seeds the demo and serves the lab on
127.0.0.1; `run:app` is the WSGI app for gunicorn (`gunicorn -w 4 run:app`)."""
import os

from lab import create_app

app = create_app()

if __name__ == "__main__":
    from lab.demo import prepare_and_print

    with app.app_context():
        prepare_and_print(app)
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "5000"))
    app.run(host=host, port=port, debug=False, threaded=True)
