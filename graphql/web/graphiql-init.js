// GraphiQL against this server, from the files the binary embeds (no CDN): queries and mutations
// over POST /graphql, subscriptions over graphql-transport-ws on /graphql/ws.
const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
const fetcher = GraphiQL.createFetcher({
  url: `${location.origin}/graphql`,
  subscriptionUrl: `${scheme}//${location.host}/graphql/ws`,
});
const root = ReactDOM.createRoot(document.getElementById('graphiql'));
root.render(
  React.createElement(GraphiQL, {
    fetcher,
    defaultEditorToolsVisibility: true,
    defaultQuery: '# What applied on a date, as the ledger knew it at an instant:\n{\n  ledger { position headHash }\n  checkpoint { size rootHash }\n}\n',
  }),
);
