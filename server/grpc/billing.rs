//! BillingService: credit, ledger, plan catalog, renewals, notifications.

use super::auth::principal;
use super::convert::{self, id, organization_id};
use super::services::billing_service_server::BillingService;
use crate::rules::credit::TopUpInput;
use crate::rules::paging::Page;
use crate::rules::{DomainError, DomainResult};
use crate::service::App;
use mailadmin_client::pb;
use tonic::{Request, Response, Status};

pub struct BillingApi {
    app: App,
}

impl BillingApi {
    pub fn new(app: App) -> Self {
        BillingApi { app }
    }
}

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl BillingService for BillingApi {
    async fn get_balance(
        &self,
        request: Request<pb::GetBalanceRequest>,
    ) -> Reply<pb::GetBalanceResponse> {
        let principal = principal(&request)?;
        let pb::GetBalanceRequest {
            organization_id: org,
        } = request.into_inner();
        let view = self
            .app
            .get_balance(&principal, organization_id(org)?)
            .await?;
        Ok(Response::new(pb::GetBalanceResponse {
            balance: Some(convert::money(view.balance)),
            monthly_cost: Some(convert::money(view.monthly_cost)),
            first_unpaid_renewal_at: view.first_unpaid_renewal_at.map(convert::timestamp),
            low_balance: view.low_balance,
            low_balance_threshold: Some(convert::money(view.threshold)),
            unpaid_accounts: view.unpaid_accounts as i32,
        }))
    }

    async fn top_up(&self, request: Request<pb::TopUpRequest>) -> Reply<pb::TopUpResponse> {
        let principal = principal(&request)?;
        let pb::TopUpRequest {
            organization_id,
            amount,
            idempotency_key,
            payment_reference,
        } = request.into_inner();
        let amount = convert::money_from("amount", amount)?;
        let input = TopUpInput::parse(
            organization_id,
            amount,
            &idempotency_key,
            &payment_reference,
        )?;
        let (entry, balance) = self.app.top_up(&principal, input).await?;
        Ok(Response::new(pb::TopUpResponse {
            entry: Some(convert::ledger_entry(entry)),
            balance: Some(convert::money(balance)),
        }))
    }

    async fn list_ledger(
        &self,
        request: Request<pb::ListLedgerRequest>,
    ) -> Reply<pb::ListLedgerResponse> {
        let principal = principal(&request)?;
        let pb::ListLedgerRequest {
            organization_id: org,
            page_size,
            page_token,
        } = request.into_inner();
        let org = organization_id(org)?;
        let page = Page::parse(page_size, &page_token)?;
        let (entries, next_page_token) = self
            .app
            .list_ledger(&principal, org, page)
            .await?
            .into_wire(convert::ledger_entry);
        Ok(Response::new(pb::ListLedgerResponse {
            entries,
            next_page_token,
        }))
    }

    async fn get_plan_catalog(
        &self,
        request: Request<pb::GetPlanCatalogRequest>,
    ) -> Reply<pb::GetPlanCatalogResponse> {
        let pb::GetPlanCatalogRequest {} = request.into_inner();
        let plans = self.app.plan_catalog().await?;
        Ok(Response::new(pb::GetPlanCatalogResponse {
            plans: plans.into_iter().map(convert::plan_terms).collect(),
        }))
    }

    async fn update_plan_catalog(
        &self,
        request: Request<pb::UpdatePlanCatalogRequest>,
    ) -> Reply<pb::UpdatePlanCatalogResponse> {
        let principal = principal(&request)?;
        let pb::UpdatePlanCatalogRequest { plans } = request.into_inner();
        let plans = plans
            .into_iter()
            .enumerate()
            .map(|(i, t)| convert::plan_terms_from(&format!("plans[{i}]"), t))
            .collect::<DomainResult<Vec<_>>>()?;
        let catalog = self.app.update_plan_catalog(&principal, plans).await?;
        Ok(Response::new(pb::UpdatePlanCatalogResponse {
            plans: catalog.into_iter().map(convert::plan_terms).collect(),
        }))
    }

    async fn preview_subscription_change(
        &self,
        request: Request<pb::PreviewSubscriptionChangeRequest>,
    ) -> Reply<pb::PreviewSubscriptionChangeResponse> {
        let principal = principal(&request)?;
        let pb::PreviewSubscriptionChangeRequest { user_id, plan } = request.into_inner();
        let user_id = id("user_id", user_id)?;
        let plan = convert::plan_from("plan", plan)?
            .ok_or_else(|| DomainError::invalid("plan", "is required"))?;
        let preview = self
            .app
            .preview_subscription_change(&principal, user_id, plan)
            .await?;
        let net = preview.net();
        Ok(Response::new(pb::PreviewSubscriptionChangeResponse {
            refund: Some(convert::money(preview.refund)),
            charge: Some(convert::money(preview.charge)),
            net: Some(convert::money(net)),
            balance: Some(convert::money(preview.balance)),
            affordable: net <= preview.balance,
        }))
    }

    async fn run_renewals(
        &self,
        request: Request<pb::RunRenewalsRequest>,
    ) -> Reply<pb::RunRenewalsResponse> {
        let principal = principal(&request)?;
        let pb::RunRenewalsRequest {} = request.into_inner();
        let summary = self.app.run_renewals(&principal).await?;
        Ok(Response::new(pb::RunRenewalsResponse {
            charged: summary.charged as i32,
            total_charged: Some(convert::money(summary.total_charged)),
            moved_to_free: summary.moved_to_free as i32,
            unpaid: summary.unpaid as i32,
        }))
    }

    async fn list_notifications(
        &self,
        request: Request<pb::ListNotificationsRequest>,
    ) -> Reply<pb::ListNotificationsResponse> {
        let principal = principal(&request)?;
        let pb::ListNotificationsRequest {
            organization_id: org,
            page_size,
            page_token,
        } = request.into_inner();
        let org = organization_id(org)?;
        let page = Page::parse(page_size, &page_token)?;
        let (notifications, next_page_token) = self
            .app
            .list_notifications(&principal, org, page)
            .await?
            .into_wire(convert::notification);
        Ok(Response::new(pb::ListNotificationsResponse {
            notifications,
            next_page_token,
        }))
    }
}
