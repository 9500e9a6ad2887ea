// The page for an address the UI does not know.
import { t } from "../i18n/i18n.ts";
import { Empty } from "../components/common.tsx";

/** Shown for unknown paths (the server answers every non-API path with index.html). */
export function NotFound() {
  return (
    <div class="page">
      <Empty title={t("common.pageNotFound")}>
        {t("common.nothingAt")} <code>{location.pathname}</code>. <a href="/">{t("common.goRuns")}</a>.
      </Empty>
    </div>
  );
}
