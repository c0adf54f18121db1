//! A fake proxy-wasm host for the callback logic of `edge_auth::host`: it keeps shared data
//! (with compare-and-swap), HTTP calls, one record per request (headers, local replies,
//! resumes, resets), metrics, and a log of every host call with the context it was made for,
//! so tests can deliver callbacks in any order and count what each request path costs.
//!
//! Calls that can run guest code in Envoy (dispatch, local reply, resume, effective context)
//! run the [`FakeHost::reenter`] hook first, once: a test puts a tick or an answer there to
//! re-enter the worker the way Envoy may.
#![allow(dead_code)] // a test kit: not every test uses every part

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::rc::Rc;

use edge_auth::host::{Flow, Host, HostError, MetricKind, RequestFlow, Worker};

/// The root context's id.
pub const ROOT: u32 = 1;

/// A local reply: status, headers, body.
pub type Reply = (u32, Vec<(String, String)>, Vec<u8>);
/// Code a test runs inside a host call.
pub type Hook = Box<dyn FnOnce(&FakeHost)>;

/// One request as the host sees it.
#[derive(Default, Debug, Clone)]
pub struct FakeRequest {
    pub headers: Vec<(String, Vec<u8>)>,
    /// Local replies sent.
    pub replies: Vec<Reply>,
    pub resumed: usize,
    pub reset: bool,
    /// The stream is gone (its context can no longer be made effective).
    pub ended: bool,
    pub set_headers: Vec<(String, Option<String>)>,
}

/// An HTTP call the guest dispatched.
#[derive(Debug, Clone)]
pub struct Dispatched {
    pub token: u32,
    /// The context that was effective when it was dispatched.
    pub context: u32,
    pub cluster: String,
    pub path: String,
    pub body: Option<Vec<u8>>,
}

#[derive(Default)]
pub struct FakeHost {
    pub now_ms: Cell<u64>,
    effective: Cell<u32>,
    pub requests: RefCell<HashMap<u32, FakeRequest>>,
    shared: RefCell<HashMap<String, (Vec<u8>, u32)>>,
    next_cas: Cell<u32>,
    next_token: Cell<u32>,
    pub dispatched: RefCell<Vec<Dispatched>>,
    /// The answer `call_response` returns: status (`None`: no answer) and body.
    answering: RefCell<(Option<u32>, Vec<u8>)>,
    /// Every host call: the context it was made for and its name (and key, for shared data).
    pub calls: RefCell<Vec<(u32, String)>>,
    metric_names: RefCell<Vec<String>>,
    pub metrics: RefCell<BTreeMap<String, i64>>,
    /// Host calls that fail, by name ("send_response", "reset_request", ...).
    pub failing: RefCell<HashSet<&'static str>>,
    /// Run (once) inside the next call that can re-enter the guest.
    pub reenter: RefCell<Option<Hook>>,
    /// The connection's TLS version (`connection.tls_version`); `None`: plain text.
    pub tls_version: RefCell<Option<String>>,
    /// The caller's address (`source.address`); `None`: `192.0.2.7:4711`.
    pub source_address: RefCell<Option<String>>,
}

impl FakeHost {
    pub fn new(now_ms: u64) -> FakeHost {
        let host = FakeHost::default();
        host.now_ms.set(now_ms);
        host.effective.set(ROOT);
        host.next_token.set(100);
        host
    }

    /// Configures a worker; panics on a refused configuration.
    pub fn worker(&self, config: &serde_json::Value) -> Rc<Worker> {
        let bytes = config.to_string().into_bytes();
        let (worker, _tick) = Worker::configure(self, ROOT, &bytes, Some([7; 32])).unwrap();
        Rc::new(worker)
    }

    fn record(&self, name: &str) {
        let context = self.effective.get();
        self.calls.borrow_mut().push((context, name.to_string()));
    }

    fn source_address(&self) -> String {
        self.source_address
            .borrow()
            .clone()
            .unwrap_or_else(|| "192.0.2.7:4711".to_string())
    }

    /// How many host calls named `name` were made so far.
    pub fn count(&self, name: &str) -> usize {
        self.calls
            .borrow()
            .iter()
            .filter(|(_, n)| n == name)
            .count()
    }

    fn fails(&self, name: &str) -> bool {
        self.failing.borrow().contains(name)
    }

    fn maybe_reenter(&self) {
        let hook = self.reenter.borrow_mut().take();
        if let Some(hook) = hook {
            let effective = self.effective.get();
            hook(self);
            self.effective.set(effective);
        }
    }

    /// Starts request `context` with `headers` (as Envoy does: a new HTTP context, then its
    /// request headers with the context effective).
    pub fn start(
        &self,
        worker: &Worker,
        context: u32,
        headers: &[(&str, &str)],
    ) -> (RequestFlow, Flow) {
        let request = FakeRequest {
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
                .collect(),
            ..FakeRequest::default()
        };
        self.requests.borrow_mut().insert(context, request);
        let mut flow = worker.request(context);
        self.effective.set(context);
        let result = flow.on_request_headers(self);
        self.effective.set(ROOT);
        (flow, result)
    }

    /// A GET of `path` with `authorization: Bearer token`.
    pub fn get(
        &self,
        worker: &Worker,
        context: u32,
        path: &str,
        token: &str,
    ) -> (RequestFlow, Flow) {
        let bearer = format!("Bearer {token}");
        self.start(
            worker,
            context,
            &[
                (":method", "GET"),
                (":path", path),
                (":authority", "api"),
                ("authorization", &bearer),
            ],
        )
    }

    /// The root context's tick.
    pub fn tick(&self, worker: &Worker) {
        self.effective.set(ROOT);
        worker.on_tick(self);
    }

    /// Answers the root's call `token` (status `None`: the call failed).
    pub fn answer_root(&self, worker: &Worker, token: u32, status: Option<u32>, body: &[u8]) {
        *self.answering.borrow_mut() = (status, body.to_vec());
        self.effective.set(ROOT);
        let headers = usize::from(status.is_some());
        worker.on_http_call_response(self, token, headers, body.len());
    }

    /// Answers request `context`'s call `token`.
    pub fn answer_request(
        &self,
        flow: &mut RequestFlow,
        context: u32,
        token: u32,
        status: Option<u32>,
        body: &[u8],
    ) {
        *self.answering.borrow_mut() = (status, body.to_vec());
        self.effective.set(context);
        let headers = usize::from(status.is_some());
        flow.on_http_call_response(self, token, headers, body.len());
        self.effective.set(ROOT);
    }

    /// Answers gRPC call `token` with gRPC `status` (0: OK) and the serialized `answer`, at
    /// context `receiver` (the one that made the call: the request's own, or the root's).
    pub fn answer_grpc(
        &self,
        worker: &Worker,
        flow: Option<&mut RequestFlow>,
        receiver: u32,
        token: u32,
        status: u32,
        answer: &[u8],
    ) {
        *self.answering.borrow_mut() = (Some(200), answer.to_vec());
        self.effective.set(receiver);
        match flow {
            Some(flow) => flow.on_grpc_call_response(self, token, status, answer.len()),
            None => worker.on_grpc_call_response(self, token, status, answer.len()),
        }
        self.effective.set(ROOT);
    }

    /// Ends request `context` (the client went away).
    pub fn end(&self, context: u32) {
        if let Some(request) = self.requests.borrow_mut().get_mut(&context) {
            request.ended = true;
        }
    }

    pub fn request(&self, context: u32) -> FakeRequest {
        self.requests
            .borrow()
            .get(&context)
            .cloned()
            .unwrap_or_default()
    }

    /// The status of the request's one local reply, if it got one.
    pub fn status(&self, context: u32) -> Option<u32> {
        let request = self.request(context);
        assert!(
            request.replies.len() <= 1,
            "more than one reply: {:?}",
            request.replies
        );
        request.replies.first().map(|reply| reply.0)
    }

    /// The last call dispatched.
    pub fn last_call(&self) -> Dispatched {
        self.dispatched.borrow().last().cloned().unwrap()
    }

    /// Host calls made so far (a mark for [`FakeHost::calls_since`]).
    pub fn mark(&self) -> usize {
        self.calls.borrow().len()
    }

    /// Host calls made since `mark`, by name.
    pub fn calls_since(&self, mark: usize) -> Vec<String> {
        self.calls.borrow()[mark..]
            .iter()
            .map(|(_, name)| name.clone())
            .collect()
    }

    /// How many host calls were made for request `context` (while it was effective).
    pub fn calls_for(&self, context: u32) -> usize {
        self.calls
            .borrow()
            .iter()
            .filter(|(c, _)| *c == context)
            .count()
    }

    /// Writes shared data as another worker would (no host call recorded).
    pub fn share(&self, key: &str, value: &[u8]) {
        let cas = self.next_cas.get() + 1;
        self.next_cas.set(cas);
        self.shared
            .borrow_mut()
            .insert(key.to_string(), (value.to_vec(), cas));
    }

    pub fn shared_value(&self, key: &str) -> Option<Vec<u8>> {
        self.shared
            .borrow()
            .get(key)
            .map(|(value, _)| value.clone())
    }
}

impl Host for FakeHost {
    fn now_ms(&self) -> u64 {
        self.record("now_ms");
        self.now_ms.get()
    }

    fn request_headers(&self) -> Result<Vec<(String, Vec<u8>)>, HostError> {
        self.record("request_headers");
        self.requests
            .borrow()
            .get(&self.effective.get())
            .map(|request| request.headers.clone())
            .ok_or(HostError::Failed("no request".into()))
    }

    fn set_request_header(&self, name: &str, value: Option<&str>) -> Result<(), HostError> {
        self.record("set_request_header");
        let mut requests = self.requests.borrow_mut();
        let request = requests
            .get_mut(&self.effective.get())
            .filter(|request| !request.ended)
            .ok_or(HostError::Failed("no request".into()))?;
        request
            .set_headers
            .push((name.to_string(), value.map(str::to_string)));
        Ok(())
    }

    fn property(&self, path: &[&str]) -> Option<Vec<u8>> {
        self.record("property");
        match path {
            ["source", "address"] => Some(self.source_address().into_bytes()),
            ["connection", "tls_version"] => {
                self.tls_version.borrow().clone().map(String::into_bytes)
            }
            _ => None,
        }
    }

    fn set_property(&self, _name: &str, _value: &[u8]) -> Result<(), HostError> {
        self.record("set_property");
        Ok(())
    }

    fn send_response(
        &self,
        status: u32,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(), HostError> {
        self.record("send_response");
        self.maybe_reenter();
        if self.fails("send_response") || (status != 503 && self.fails("send_response_not_503")) {
            return Err(HostError::Failed("refused".into()));
        }
        let mut requests = self.requests.borrow_mut();
        let request = requests
            .get_mut(&self.effective.get())
            .filter(|request| !request.ended)
            .ok_or(HostError::Failed("no request".into()))?;
        let headers = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        request.replies.push((status, headers, body.to_vec()));
        Ok(())
    }

    fn reset_request(&self) -> Result<(), HostError> {
        self.record("reset_request");
        if self.fails("reset_request") {
            return Err(HostError::Failed("refused".into()));
        }
        if let Some(request) = self.requests.borrow_mut().get_mut(&self.effective.get()) {
            request.reset = true;
        }
        Ok(())
    }

    fn resume_request(&self) -> Result<(), HostError> {
        self.record("resume_request");
        self.maybe_reenter();
        let mut requests = self.requests.borrow_mut();
        let request = requests
            .get_mut(&self.effective.get())
            .filter(|request| !request.ended)
            .ok_or(HostError::Failed("no request".into()))?;
        request.resumed += 1;
        Ok(())
    }

    fn set_effective_context(&self, context_id: u32) -> Result<(), HostError> {
        self.record("set_effective_context");
        self.maybe_reenter();
        let alive = context_id == ROOT
            || self
                .requests
                .borrow()
                .get(&context_id)
                .is_some_and(|request| !request.ended);
        if !alive {
            return Err(HostError::Failed("BadArgument".into()));
        }
        self.effective.set(context_id);
        Ok(())
    }

    fn get_shared_data(&self, key: &str) -> Result<(Option<Vec<u8>>, Option<u32>), HostError> {
        self.record(&format!("get_shared_data {key}"));
        Ok(match self.shared.borrow().get(key) {
            Some((value, cas)) => (Some(value.clone()), Some(*cas)),
            None => (None, None),
        })
    }

    fn set_shared_data(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), HostError> {
        self.record(&format!("set_shared_data {key}"));
        let current = self.shared.borrow().get(key).map(|(_, cas)| *cas);
        if cas.is_some() && current.is_some() && cas != current {
            return Err(HostError::CasMismatch);
        }
        self.share(key, value);
        Ok(())
    }

    fn dispatch_http_call(
        &self,
        cluster: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        _timeout_ms: u64,
    ) -> Result<u32, HostError> {
        self.record("dispatch_http_call");
        if self.fails("dispatch_http_call") {
            return Err(HostError::Failed("InternalFailure".into()));
        }
        let token = self.next_token.get() + 1;
        self.next_token.set(token);
        let path = headers
            .iter()
            .find(|(name, _)| *name == ":path")
            .map(|(_, value)| value.to_string())
            .unwrap_or_default();
        self.dispatched.borrow_mut().push(Dispatched {
            token,
            context: self.effective.get(),
            cluster: cluster.to_string(),
            path,
            body: body.map(<[u8]>::to_vec),
        });
        self.maybe_reenter();
        Ok(token)
    }

    fn call_response(
        &self,
        num_headers: usize,
        _body_size: usize,
    ) -> (Option<u32>, Option<Vec<u8>>) {
        self.record("call_response");
        let (status, body) = self.answering.borrow().clone();
        (status.filter(|_| num_headers > 0), Some(body))
    }

    fn dispatch_grpc_call(
        &self,
        cluster: &str,
        service: &str,
        method: &str,
        message: &[u8],
        _timeout_ms: u64,
    ) -> Result<u32, HostError> {
        self.record("dispatch_grpc_call");
        if self.fails("dispatch_grpc_call") {
            return Err(HostError::Failed("ParseFailure".into()));
        }
        let token = self.next_token.get() + 1;
        self.next_token.set(token);
        self.dispatched.borrow_mut().push(Dispatched {
            token,
            context: self.effective.get(),
            cluster: cluster.to_string(),
            path: format!("{service}/{method}"),
            body: Some(message.to_vec()),
        });
        self.maybe_reenter();
        Ok(token)
    }

    fn grpc_call_response(&self, _size: usize) -> Option<Vec<u8>> {
        self.record("grpc_call_response");
        Some(self.answering.borrow().1.clone())
    }

    fn define_metric(&self, _kind: MetricKind, name: &str) -> Result<u32, HostError> {
        self.record("define_metric");
        let mut names = self.metric_names.borrow_mut();
        names.push(name.to_string());
        Ok(u32::try_from(names.len()).unwrap())
    }

    fn increment_metric(&self, id: u32, by: i64) -> Result<(), HostError> {
        self.record("increment_metric");
        let name = self.metric_names.borrow()[usize::try_from(id).unwrap() - 1].clone();
        *self.metrics.borrow_mut().entry(name).or_default() += by;
        Ok(())
    }

    fn record_metric(&self, id: u32, value: u64) -> Result<(), HostError> {
        self.record("record_metric");
        let name = self.metric_names.borrow()[usize::try_from(id).unwrap() - 1].clone();
        self.metrics
            .borrow_mut()
            .insert(name, i64::try_from(value).unwrap());
        Ok(())
    }
}
