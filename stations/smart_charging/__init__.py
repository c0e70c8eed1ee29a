"""Smart charging: charging profiles as data, and the site load manager that shares a
site's grid connection among the sessions charging there (see stations.load_management
for the allocation rules themselves)."""
