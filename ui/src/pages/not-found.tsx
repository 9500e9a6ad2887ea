// The page for an address the UI does not know.
import { Empty } from "../components/common.tsx";

/** Shown for unknown paths (the server answers every non-API path with index.html). */
export function NotFound() {
  return (
    <div class="page">
      <Empty title="Page not found">
        There is nothing at <code>{location.pathname}</code>. <a href="/">Go to the runs list</a>.
      </Empty>
    </div>
  );
}
