"""The classroom's pages, one module per feature, on the one `classroom` blueprint (URLs and
endpoint names are the blueprint's: `classroom.show`, `classroom.board`…):

- classes.py    the instructor's classes, join codes, instructor accounts (admin), credentials
- rosters.py    roster uploads and the report an upload leaves to read
- groups.py     forming groups, moving students, handing out roles
- runs.py       assignments, the clock, injections and the live board
- repairs.py    one group's run: mark a step, reset to before a step
- grades.py     the grade sheet, adjustments, the debrief replay, marking a lab report
- student.py    the student's own lab report (the one classroom page a student opens)

Every page asks access.py who may see it; every view that changes something is wrapped in
lab/views.py `commits` (services only flush)."""
from . import classes, grades, groups, repairs, rosters, runs, student  # noqa: F401  (routes)
