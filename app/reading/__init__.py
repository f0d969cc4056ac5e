"""Reading records: the lists, filters and pages every kind shares."""
