"""Who may see what in the classroom."""
from ..extensions import db
from ..models import Group


def instructor_owns_run(user, run) -> bool:
    if user.is_admin:
        return True
    if run.group_id is None:
        return run.owner_id == user.id
    group = db.session.get(Group, run.group_id)
    return group is not None and group.classroom.instructor_id == user.id
