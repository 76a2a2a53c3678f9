// Reads streamkit's AI SDK stream with the AI SDK's own client code (npm package `ai`).
//
// Used by tests/test_aisdk_client.py: a JSON job on stdin, a JSON report on stdout.
//   job:    {"api": "http://127.0.0.1:PORT/api/chat", "requests": [{"messages": [UIMessage...],
//            "body": {...}, "abortAfter": "text-delta"?}]}
//   report: [{"chunks": [UIMessageChunk...], "message": UIMessage | null, "errors": [str],
//             "aborted": bool, "valid": true | str, "modelMessages": [ModelMessage...]}]
//
// Everything that parses is the package's: DefaultChatTransport (what useChat uses: it
// POSTs {id, messages, trigger, messageId, ...body} and parses the SSE response against
// uiMessageChunkSchema), readUIMessageStream (assembles the UIMessage as useChat does),
// validateUIMessages and convertToModelMessages.
import {
  DefaultChatTransport,
  convertToModelMessages,
  readUIMessageStream,
  validateUIMessages,
} from "ai";

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

async function run(api, request) {
  const controller = new AbortController();
  const transport = new DefaultChatTransport({ api, body: request.body ?? {} });
  const chunkStream = await transport.sendMessages({
    chatId: "chat-1",
    messages: request.messages,
    trigger: "submit-message",
    messageId: undefined,
    abortSignal: controller.signal,
  });
  const chunks = [];
  let aborted = false;
  const recorded = chunkStream.pipeThrough(
    new TransformStream({
      transform(chunk, out) {
        chunks.push(structuredClone(chunk)); // the reader keeps (and updates) some chunks as parts
        out.enqueue(chunk);
        if (request.abortAfter && chunk.type === request.abortAfter && !aborted) {
          aborted = true;
          controller.abort();
        }
      },
    }),
  );
  const errors = [];
  let message = null;
  try {
    for await (const snapshot of readUIMessageStream({
      stream: recorded,
      onError: (error) => errors.push(String(error?.message ?? error)),
    })) {
      message = snapshot;
    }
  } catch (error) {
    if (!aborted) throw error;
  }
  const history = message ? [...request.messages, message] : request.messages;
  let valid = true;
  try {
    await validateUIMessages({ messages: history });
  } catch (error) {
    valid = String(error?.message ?? error);
  }
  const modelMessages = await convertToModelMessages(history);
  return { chunks, message, errors, aborted, valid, modelMessages };
}

const job = await readStdin();
const report = [];
for (const request of job.requests) report.push(await run(job.api, request));
process.stdout.write(JSON.stringify(report));
