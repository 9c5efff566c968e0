// The state machine graph: laid out with dagre (window.dagre), drawn as SVG. A Map state is a box
// holding its ItemProcessor's graph, laid out first so the outer layout knows the box's size.

const SVG = 'http://www.w3.org/2000/svg';
const NODE_HEIGHT = 38;
const PAD = 16;
const HEADER = 30;

function svg(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) if (value !== undefined) element.setAttribute(name, value);
  for (const child of children) element.append(child instanceof Node ? child : document.createTextNode(child));
  return element;
}

const textWidth = (text) => text.length * 7.2 + 36;

/** Lays out one machine: { width, height, nodes: Map(name -> { x, y, width, height, state, inner }), edges }. */
function layout(machine) {
  const graph = new dagre.graphlib.Graph({ multigraph: true });
  graph.setGraph({ rankdir: 'TB', nodesep: 28, ranksep: 36, marginx: 8, marginy: 8 });
  graph.setDefaultEdgeLabel(() => ({}));
  const inner = new Map();
  for (const state of machine.states) {
    if (state.processor) {
      const nested = layout(state.processor);
      inner.set(state.name, nested);
      graph.setNode(state.name, { width: nested.width + 2 * PAD, height: nested.height + HEADER + PAD, state });
    } else {
      graph.setNode(state.name, { width: Math.max(120, textWidth(state.name)), height: NODE_HEIGHT, state });
    }
  }
  machine.edges.forEach((edge, index) => graph.setEdge(edge.from, edge.to, { edge }, `e${index}`));
  dagre.layout(graph);
  const nodes = new Map();
  for (const name of graph.nodes()) nodes.set(name, { ...graph.node(name), inner: inner.get(name) });
  const edges = graph.edges().map((e) => ({ ...graph.edge(e).edge, points: graph.edge(e).points }));
  const { width, height } = graph.graph();
  return { width, height, nodes, edges };
}

const path = (points) => points.map((p, i) => `${i ? 'L' : 'M'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ');

/**
 * Draws `laidOut` into a <g>. `decorate(state, group, box, nested)` adds the live parts (phase
 * classes, count badges); `nested` is true inside a Map's processor.
 */
function draw(laidOut, decorate, nested) {
  const group = svg('g');
  for (const edge of laidOut.edges)
    group.append(svg('path', { d: path(edge.points), class: `edge edge-${edge.kind}`, 'marker-end': 'url(#arrow)' }));
  for (const [name, node] of laidOut.nodes) {
    const x = node.x - node.width / 2;
    const y = node.y - node.height / 2;
    const state = node.state;
    const g = svg('g', { class: `state type-${state.type.toLowerCase()}`, 'data-state': name });
    g.append(svg('title', {}, `${name} (${state.type})`));
    const rounded = state.type === 'Succeed' || state.type === 'Fail' ? node.height / 2 : 6;
    g.append(svg('rect', { x, y, width: node.width, height: node.height, rx: node.inner ? 8 : rounded }));
    if (node.inner) {
      g.classList.add('map');
      g.append(svg('text', { x: x + 12, y: y + 20, class: 'map-title' }, `${name} (Distributed Map)`));
      const content = draw(node.inner, decorate, true);
      content.setAttribute('transform', `translate(${x + PAD}, ${y + HEADER})`);
      g.append(content);
    } else {
      g.append(svg('text', { x: node.x, y: node.y + 4, 'text-anchor': 'middle' }, name));
    }
    decorate(state, g, { x, y, width: node.width, height: node.height }, nested);
    group.append(g);
  }
  return group;
}

/** The graph's SVG element, with a decorate hook for live state. */
export function renderGraph(machine, decorate) {
  const laidOut = layout(machine);
  const root = svg('svg', {
    viewBox: `0 0 ${laidOut.width} ${laidOut.height}`,
    width: laidOut.width,
    height: laidOut.height,
    class: 'state-graph',
    role: 'img',
    'aria-label': 'state machine graph',
  });
  const marker = svg(
    'marker',
    { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto' },
    svg('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrow-head' }),
  );
  root.append(svg('defs', {}, marker), draw(laidOut, decorate, false));
  return root;
}

/** A count badge at a state's top right corner. */
export function badge(box, count, kind, title) {
  const label = String(count);
  const width = Math.max(22, label.length * 8 + 12);
  const g = svg('g', { class: `badge badge-${kind}${count ? '' : ' badge-zero'}`, 'data-count': label });
  g.append(svg('title', {}, title));
  g.append(svg('rect', { x: box.x + box.width - width + 8, y: box.y - 10, width, height: 20, rx: 10 }));
  g.append(svg('text', { x: box.x + box.width - width / 2 + 8, y: box.y + 4, 'text-anchor': 'middle' }, label));
  return g;
}
