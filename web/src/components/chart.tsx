// Chart.js, registered with only the pieces the dashboard draws.
import {
  ArcElement,
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  DoughnutController,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
  type ChartConfiguration,
} from "chart.js";
import { useEffect, useRef } from "preact/hooks";
import { Empty } from "./ui";

Chart.register(
  ArcElement,
  BarController,
  BarElement,
  CategoryScale,
  DoughnutController,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
);

export const PALETTE = ["#2563eb", "#16a34a", "#dc2626", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#64748b"];

function themeColors() {
  const css = getComputedStyle(document.documentElement);
  return {
    text: css.getPropertyValue("--muted").trim() || "#666",
    grid: css.getPropertyValue("--border").trim() || "#ddd",
    surface: css.getPropertyValue("--surface").trim() || "#fff",
  };
}

export function ChartView({
  config,
  empty,
  label,
  height = 240,
}: {
  config: ChartConfiguration;
  /// When set, shown instead of the chart (no data to draw).
  empty?: string | false;
  label: string;
  height?: number;
}) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const chart = useRef<Chart | null>(null);

  useEffect(() => {
    if (empty || !canvas.current) return;
    const { text, grid, surface } = themeColors();
    Chart.defaults.color = text;
    Chart.defaults.borderColor = grid;
    // Slices separated by the card's colour, not white, in dark mode too.
    Chart.defaults.elements.arc.borderColor = surface;
    const options = { responsive: true, maintainAspectRatio: false, animation: false as const, ...config.options };
    if (chart.current) {
      chart.current.data = config.data;
      chart.current.options = options;
      chart.current.update();
    } else {
      chart.current = new Chart(canvas.current, { ...config, options });
    }
  }, [config, empty]);

  useEffect(
    () => () => {
      chart.current?.destroy();
      chart.current = null;
    },
    [empty],
  );

  if (empty) return <Empty>{empty}</Empty>;
  return (
    <div class="chart" style={{ height: `${height}px` }}>
      <canvas ref={canvas} role="img" aria-label={label} />
    </div>
  );
}
