"""Medical insurance bureau: subsidy categories, tags and roster imports."""
