"""Group forming pressed from several tabs at once (the audit saw 500s): one forming wins, the
others get a message, and the class has one set of groups."""
import io
import threading

from lab.extensions import db
from lab.models import Classroom, Group
from tests.helpers import csrf_token, login, make_user, post
from tests.test_repair import roster


def test_groups_formed_from_eight_tabs_at_once_make_one_set_and_no_500(app):
    make_user("teacher", is_instructor=True)
    client = app.test_client()
    login(client, "teacher")
    post(client, "/classroom/new", {"name": "电商一班"})
    classroom = db.session.scalar(db.select(Classroom))
    post(client, f"/classroom/{classroom.id}/roster",
         {"roster": (io.BytesIO(roster(12)), "roster.xlsx")}, content_type="multipart/form-data")
    tabs = []
    for _ in range(8):
        tab = app.test_client()
        login(tab, "teacher")
        tabs.append((tab, csrf_token(tab, "/")))
    barrier, codes, errors = threading.Barrier(len(tabs)), [], []

    def press(tab, token):
        barrier.wait()
        try:
            codes.append(tab.post(f"/classroom/{classroom.id}/groups",
                                  data={"size": "4", "csrf_token": token}).status_code)
        except Exception as error:  # the test client raises what would be a 500
            errors.append(error)

    threads = [threading.Thread(target=press, args=tab) for tab in tabs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [] and 500 not in codes, (errors, codes)
    db.session.expire_all()
    assert len(db.session.scalars(db.select(Group).where(
        Group.classroom_id == classroom.id)).all()) == 3
