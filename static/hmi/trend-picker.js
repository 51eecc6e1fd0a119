/* The trend page's tag picker: keep the tags whose plant, line, machine or name match every
 * word typed in the search box. */
(function () {
  "use strict";

  const search = document.getElementById("tag-search");
  if (search) {
    search.addEventListener("input", () => {
      const words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
      document.querySelectorAll(".tag-group").forEach((group) => {
        let shown = 0;
        group.querySelectorAll(".tag-choice").forEach((choice) => {
          const text = `${group.dataset.search} ${choice.dataset.search}`.toLowerCase();
          const match = words.every((word) => text.includes(word));
          choice.hidden = !match;
          if (match) shown += 1;
        });
        group.hidden = shown === 0;
      });
    });
  }
})();
