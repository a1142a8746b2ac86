/**
 * Saving a JSON document as a file from the page (the trustee's encrypted backup).
 * @module trustee/download
 */

/** Offer `document` as a download named `name`; returns the object URL for a visible link. */
export function downloadJson(document_, name, link) {
  const blob = new Blob([JSON.stringify(document_, null, 1)], { type: "application/json" });
  const url = URL.createObjectURL(blob);
  link.href = url;
  link.download = name;
  link.hidden = false;
  link.click();
  return url;
}
