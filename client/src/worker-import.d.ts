// Vite bundles `?worker&inline` imports into the widget itself (a blob: URL at run time):
// an embedding page loads one script, from any origin, and the worker comes with it.
declare module '*?worker&inline' {
  const WorkerConstructor: new () => Worker;
  export default WorkerConstructor;
}
