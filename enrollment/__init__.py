"""Medical insurance bureau: households, persons, enrollments, assessments."""
