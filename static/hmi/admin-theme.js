/* The admin in the person's theme (hmi/theme.py: auto, light or dark), set before the first
 * paint; Django's dark_mode.css reads html[data-theme]. */
document.documentElement.dataset.theme = document.currentScript.dataset.theme || "auto";
