"""Training: the mmengine runner benchsel drives, its hooks and the extra losses."""
