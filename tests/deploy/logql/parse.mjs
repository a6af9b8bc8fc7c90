// Parses LogQL with Grafana's own grammar (@grafana/lezer-logql, the parser Grafana's query editor
// uses). Reads a JSON object {name: expression} on stdin; prints {name: [errors]} where an error
// is the character offset and the text around a node the grammar could not place.
import { parser } from "@grafana/lezer-logql";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const expressions = JSON.parse(Buffer.concat(chunks).toString("utf8"));

const result = {};
for (const [name, expr] of Object.entries(expressions)) {
  const errors = [];
  const tree = parser.parse(expr);
  tree.iterate({
    enter(node) {
      if (node.type.isError) {
        errors.push({ at: node.from, near: expr.slice(Math.max(0, node.from - 15), node.to + 15) });
      }
    },
  });
  result[name] = { top: tree.topNode.firstChild ? tree.topNode.firstChild.name : null, errors };
}
process.stdout.write(JSON.stringify(result));
