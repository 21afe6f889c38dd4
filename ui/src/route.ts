import { useEffect, useState } from "preact/hooks";

export type Route =
  | { readonly page: "fleet" }
  | { readonly page: "vm"; readonly vm: string }
  | { readonly page: "run" }
  | { readonly page: "activity" }
  | { readonly page: "workers" };

/** Pages live in the fragment (`#/vm/web1`): a static server needs no routes and reload keeps the page. */
export function parseRoute(hash: string): Route {
  const [page = "", rest = ""] = hash.replace(/^#\/?/, "").split(/\/(.*)/s);
  if (page === "vm" && rest !== "") return { page: "vm", vm: decodeURIComponent(rest) };
  if (page === "run" || page === "activity" || page === "workers") return { page };
  return { page: "fleet" };
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(location.hash));
    addEventListener("hashchange", onChange);
    return () => removeEventListener("hashchange", onChange);
  }, []);
  return route;
}
