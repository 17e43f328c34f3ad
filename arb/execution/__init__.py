"""Execution: turning plans into orders, and the venues orders go to (`paper`: fills against live
books without sending anything)."""
