"""Entry point. `python run.py` migrates the database and serves the lab on 127.0.0.1 (HOST,
PORT); on the local quick start (SQLite, no SECRET_KEY in the environment) it also seeds the demo
and prints its logins, on a class start it creates no account and says how to make the first
admin (lab/startup.py). `run:app` is the WSGI app for gunicorn (`gunicorn -w 4 run:app`)."""
from lab import create_app

app = create_app()

if __name__ == "__main__":
    from lab.startup import listen_address, prepare_for_start, shown_address

    host, port = listen_address()
    with app.app_context():
        print(prepare_for_start(app, shown_address(host, port)), flush=True)
    app.run(host=host, port=port, debug=False, threaded=True)
